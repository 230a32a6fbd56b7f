<?php
// Drupal's template (not read: only settings.php is)
$databases = [];
