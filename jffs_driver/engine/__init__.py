"""engine subpackage of jffs_driver."""
