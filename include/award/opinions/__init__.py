"""opinions"""
