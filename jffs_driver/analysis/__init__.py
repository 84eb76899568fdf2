"""analysis subpackage of jffs_driver."""
