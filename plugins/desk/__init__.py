"""The office's desk (申报工作台): a FastAPI app the ``award_desk`` plugin mounts in Airflow's api-server.

This package is imported by ``plugins/desk_plugin.py``; ``plugins/.airflowignore`` keeps Airflow's plugin
loader from importing its modules a second time as top-level modules.
"""
