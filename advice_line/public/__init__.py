"""The landing page: what the line is for anyone; live figures for signed-in staff."""
