<?php

// @codingStandardsIgnoreFile

/**
 * Database settings: Drupal 7 wrote array(), Drupal 8 and later [].
 */
$databases = array();

$databases['default']['default'] = [
  'database' => 'drupal_portal',
  'username' => 'portal',
  'password' => 'portal\'s-secret',
  'prefix' => '',
  'host' => 'localhost',
  'port' => '3306',
  'isolation_level' => 'READ COMMITTED',
  'driver' => 'mysql',
  'namespace' => 'Drupal\\mysql\\Driver\\Database\\mysql',
  'autoload' => 'core/modules/mysql/src/Driver/Database/mysql/',
];

$settings['hash_salt'] = 'aW4gdGhlIGZpeHR1cmUgb25seQ';
$settings['config_sync_directory'] = '../config/sync';
$settings['file_private_path'] = '../private';

/**
 * Load local development override configuration, if available.
 */
if (file_exists($app_root . '/' . $site_path . '/settings.local.php')) {
  include $app_root . '/' . $site_path . '/settings.local.php';
}
