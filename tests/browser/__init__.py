"""Browser smoke tests: the course served by JupyterLab and driven in headless Chromium."""
