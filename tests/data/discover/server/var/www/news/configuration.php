<?php
class JConfig {
	public $offline = false;
	public $offline_message = 'This site is down for maintenance.<br>Please check back again soon.';
	public $sitename = 'News';
	public $editor = 'tinymce';
	public $list_limit = 20;
	public $access = 1;
	public $debug = false;
	public $dbtype = 'mysqli';
	public $host = 'localhost';
	public $user = 'news';
	public $password = "news\$secret";
	public $db = 'joomla_news';
	public $dbprefix = 'jos_';
	public $dbencryption = 0;
	public $secret = 'Xq3Zt7Yw2Lp9Rk4M';
	public $gzip = false;
	public $error_reporting = 'default';
	public $live_site = '';
	public $force_ssl = 0;
	public $offset = 'UTC';
	public $mailer = 'mail';
	public $mailfrom = 'news@example.com';
	public $fromname = 'News';
	public $caching = 0;
	public $cache_handler = 'file';
	public $cachetime = 15;
	public $log_path = '/var/www/news/administrator/logs';
	public $tmp_path = '/var/www/news/tmp';
	public $lifetime = 15;
	public $session_handler = 'database';
}
