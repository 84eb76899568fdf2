"""models subpackage of jffs_driver."""
