"""Jinja2 templates, one folder per message kind and one file per channel.

``KIND/subject.txt.j2`` is the subject line; ``KIND/CHANNEL.txt.j2`` (or
``KIND/default.txt.j2``) the text; ``KIND/CHANNEL.html.j2`` an optional HTML part,
autoescaped. Operators override any file by placing one with the same path under
``SWITCHBOARD_TEMPLATES_DIR``.
"""
