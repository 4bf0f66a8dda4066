"""The web pages: server-rendered HTML (Jinja2, escaped everywhere), a little JavaScript
where it helps (drag-and-drop upload with progress, copy buttons), every asset served
from /static by Taipan itself. ``site.install`` adds them to an app."""
