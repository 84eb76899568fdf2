"""store subpackage of jffs_driver."""
