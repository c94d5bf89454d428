"""Finding requests: the search page and the officer's and the person's earlier requests."""
