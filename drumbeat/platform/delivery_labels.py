"""SQL that labels a delivery (table alias ``d``) the way every reader shows it: its
recipient's name, and its step's action type and workflow state (name and key).

Joined by the delivery list (:mod:`drumbeat.platform.delivery_list`); the event frames
(:mod:`drumbeat.platform.tracking.frames`) use the same joins, so a delivery and its
events name the recipient and the step alike. The joins are LEFT joins: a reader whose
``d`` may be missing (an event of no delivery) gets NULLs.
"""

#: Columns: ``action_type``, ``state_name``, ``state_key``, ``recipient_name`` (a
#: company's name, or a contact's or lead's first and last name).
LABEL_COLUMNS = """a.action_type, s.name AS state_name, s.state_key,
  CASE d.target_kind WHEN 'company' THEN co.name
    ELSE TRIM(COALESCE(ct.first_name, ld.first_name, '') || ' '
              || COALESCE(ct.last_name, ld.last_name, '')) END AS recipient_name"""

#: The joins :data:`LABEL_COLUMNS` reads (``a``: the step, ``s``: its state).
LABEL_JOINS = """LEFT JOIN drumbeat_workflow_action a ON a.id = d.step
LEFT JOIN drumbeat_workflow_state s ON s.id = a.state
LEFT JOIN drumbeat_contact ct ON d.target_kind = 'contact' AND ct.id = d.target_id
LEFT JOIN drumbeat_company co ON d.target_kind = 'company' AND co.id = d.target_id
LEFT JOIN drumbeat_lead ld ON d.target_kind = 'lead' AND ld.id = d.target_id"""
