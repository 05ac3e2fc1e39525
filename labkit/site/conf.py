"""Sphinx configuration of the course site. Build it with ``make site`` (``python -m labkit.site``),
which stages the sources in build/site-src/ and points Sphinx here with ``-c``."""

# The course's public repository: Binder builds it (from environment.yml, which installs labkit
# with `-e .`) for every "Launch in Binder" link, and the header's repository button points to
# it. This is the one setting to change for a fork or a move; it must be a GitHub URL
# (https://github.com/OWNER/REPO), as mybinder.org's GitHub provider needs.
REPOSITORY_URL = "https://github.com/lambda-concurrency-lab/lambda-concurrency-lab"
# The branch (or tag) Binder builds and the links open.
BINDER_REF = "main"

project = "Lambda Concurrency Lab"
author = "the Lambda Concurrency Lab authors"
copyright = "the Lambda Concurrency Lab authors"
language = "en"

extensions = [
    "myst_nb",                  # notebooks and Markdown pages
    "labkit.site.sphinxext",    # launch links, the {labkit-binder} directive, math as MathML
]

# Notebooks are shown with the outputs they are stored with (nbval checks them); never run.
nb_execution_mode = "off"
nb_merge_streams = True         # consecutive prints of a cell show as one block
myst_enable_extensions = ["dollarmath", "deflist", "colon_fence"]
# "$11.72 per million ... $19.78" is money, not math: no $ next to a digit opens or closes math.
myst_dmath_allow_digits = False
myst_heading_anchors = 3        # #-links to headings, as in JupyterLab
html_math_renderer = "mathml"   # no MathJax: it would come from a CDN, and the site is offline

exclude_patterns = ["**/.ipynb_checkpoints"]

html_theme = "sphinx_book_theme"
html_title = "Lambda Concurrency Lab"
html_static_path = ["_static"]
html_css_files = ["labkit.css"]
html_js_files = ["labkit.js"]   # figures open at full size when clicked
html_copy_source = True         # the theme's download button offers each notebook's .ipynb
html_show_sourcelink = False
html_last_updated_fmt = None
html_show_copyright = False     # the footer names the authors; the licence is the repository's
html_theme_options = {
    "repository_url": REPOSITORY_URL,
    "repository_branch": BINDER_REF,
    "use_repository_button": True,
    "use_download_button": True,
    "use_fullscreen_button": False,
    "home_page_in_toc": True,
    "show_toc_level": 2,
    "navigation_with_keys": False,
    "navbar_persistent": [],    # the sidebar has the search field: no second one in a header bar
}
# Light by default: the lessons' figures have white backgrounds. (Left unset, the theme's script
# logs the console error "Got invalid theme mode" on a reader's first visit.)
html_context = {"default_mode": "light"}

labkit_repository_url = REPOSITORY_URL
labkit_binder_ref = BINDER_REF
