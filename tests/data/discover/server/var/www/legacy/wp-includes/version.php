<?php
$wp_version = '3.0.1';
