<?php
// 1C-Bitrix kernel (stub for the fixture)
