"""correction subpackage of jffs_driver."""
