"""Building blocks shared by several families."""
