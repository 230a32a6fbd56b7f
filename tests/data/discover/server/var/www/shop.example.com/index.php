<?php
require $_SERVER["DOCUMENT_ROOT"] . "/bitrix/header.php";
$APPLICATION->SetTitle("Shop");
require $_SERVER["DOCUMENT_ROOT"] . "/bitrix/footer.php";
