"""parallel subpackage of jffs_driver."""
