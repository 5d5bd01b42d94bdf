"""Guided lessons: their definitions and progress (catalog) and the broken-on-purpose datasets of lesson 4
(broken). Nothing here imports streamlit or the job queue; pages/ui/lessons.py draws the lessons and queues runs."""
