<?php
// ** MySQL settings ** //
define('DB_NAME', 'legacy_wp');    // The name of the database
define('DB_USER', 'legacy');     // Your MySQL username
define('DB_PASSWORD', 'legacy-secret'); // ...and password
define('DB_HOST', 'localhost');    // 99% chance you won't need to change this value
define('DB_CHARSET', 'utf8');
define('DB_COLLATE', '');

$table_prefix  = 'wp_';

/* That's all, stop editing! Happy blogging. */

define('ABSPATH', dirname(__FILE__).'/');
require_once(ABSPATH.'wp-settings.php');
