server {
	listen 80;
	server_name tracker.example.com;
	root /var/www/tracker/public;

	location / {
		try_files $uri /index.php$is_args$args;
	}

	location ~ ^/index\.php(/|$) {
		fastcgi_pass unix:/run/php/php8.2-fpm.sock;
		fastcgi_split_path_info ^(.+\.php)(/.*)$;
		include fastcgi_params;
		internal;
	}
}
