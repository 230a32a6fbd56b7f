<?php
// Laravel bootstrap (stub for the fixture)
