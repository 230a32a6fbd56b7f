<?php
namespace Joomla\CMS;

final class Version
{
    public const MAJOR_VERSION = 5;
    public const MINOR_VERSION = 2;
}
