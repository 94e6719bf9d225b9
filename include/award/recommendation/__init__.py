"""recommendation"""
