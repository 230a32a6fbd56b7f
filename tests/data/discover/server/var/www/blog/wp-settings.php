<?php
// WordPress core (stub for the fixture)
