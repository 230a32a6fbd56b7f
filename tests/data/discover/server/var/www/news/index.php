<?php
/**
 * @package    Joomla.Site
 */
define('_JEXEC', 1);
require_once __DIR__ . '/includes/app.php';
