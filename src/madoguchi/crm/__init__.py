"""The CRM: what members keep about a contact. Each part (statuses, marks, tags, fields, memos,
records) is one service module with its rules, so there is no crm/service.py; ``api.py`` holds
their routes and ``values.py`` checks the typed values fields and records share."""
