"""ffs subpackage of jffs_driver."""
