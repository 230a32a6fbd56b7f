<?php
/**
 * The base configuration for WordPress
 *
 * The password lives in .env (loaded by vlucas/phpdotenv), not in this file.
 *
 * @package WordPress
 */
require_once __DIR__ . '/vendor/autoload.php';
Dotenv\Dotenv::createUnsafeImmutable( __DIR__ )->safeLoad();

// ** Database settings - You can get this info from your web host ** //
/** The name of the database for WordPress */
define( 'DB_NAME', 'blog_' . 'wp' );

/** Database username */
define( "DB_USER", "wp" );

/** Database password */
define( 'DB_PASSWORD', getenv( 'DB_PASS' ) );

/** Database hostname */
define( 'DB_HOST', '127.0.0.1:3306' ); # TCP, not the socket

/** Database charset to use in creating database tables. */
define( 'DB_CHARSET', 'utf8mb4' );

/** The database collate type. Don't change this if in doubt. */
define( 'DB_COLLATE', '' );

define( 'AUTH_KEY',         'put your unique phrase here' );
define( 'SECURE_AUTH_KEY',  'put your unique phrase here' );

$table_prefix = 'wp_';

define( 'WP_DEBUG', false );

/* That's all, stop editing! Happy publishing. */

/** Absolute path to the WordPress directory. */
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}

/** Sets up WordPress vars and included files. */
require_once ABSPATH . 'wp-settings.php';
