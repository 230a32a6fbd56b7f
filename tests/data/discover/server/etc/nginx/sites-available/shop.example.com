# 1C-Bitrix shop (bitrixenv-like)
server {
    listen 80;
    server_name shop.example.com www.shop.example.com;   # both names
    # server_name old-shop.example.com;  (retired)
    root /var/www/shop.example.com;
    index index.php index.html;
    client_max_body_size 1024m;

    location ~ \.php$ {
        include fastcgi_params;
        fastcgi_pass unix:/run/php/php8.2-fpm.sock;
    }

    location ~* ^/bitrix/(cache|managed_cache|stack_cache|backup)/ {
        deny all;
    }
}
