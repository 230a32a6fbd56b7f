<?php
$wp_version = '6.7.1';
$wp_db_version = 58975;
