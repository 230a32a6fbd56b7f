"""``corral discover``: the sites a web server serves, the projects behind them, the databases they use.

:mod:`.model` holds what the parts hand each other; :mod:`.webservers` reads nginx and Apache, :mod:`.projects`
recognises the CMS or framework of a project and reads its database settings, :mod:`.jobs` writes the jobs.
"""
