"""system subpackage of jffs_driver."""
