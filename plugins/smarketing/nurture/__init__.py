"""After-sales nurture lists: programs from config/nurture.yaml, suppression, exports."""
