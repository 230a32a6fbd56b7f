"""``corral discover`` and coverage: the sites a web server serves, the projects behind them, their databases.

:mod:`.model` holds what the parts hand each other; :mod:`.webservers` reads nginx and Apache (paths under
``--root`` through :mod:`.rooted`), :mod:`.projects` recognises the CMS or framework of a project and reads its
database settings (PHP through :mod:`.php`, never run), :mod:`.jobs` writes the jobs, :mod:`.coverage` compares
what is found with what the configured jobs back up (a server's databases through :mod:`.inventory`).
"""
