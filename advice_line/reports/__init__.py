"""Manager reports: dashboard, equality monitoring, follow-up, drill-down, exports."""
