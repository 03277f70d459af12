"""Streamlit entry point: ``streamlit run app.py`` (or scripts/app.sh).

Everything lives in :mod:`chatbot.ui`: the patient chat, and the password-protected
staff and content pages, chosen in the sidebar.
"""

from chatbot.ui import main

main()
