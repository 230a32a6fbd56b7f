<?php
define('_JEXEC', 1);
