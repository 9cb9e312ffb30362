"""Smarketing: one set of sales and marketing numbers, from HubSpot and Salesforce to nurture lists."""

__version__ = "0.1.0"
