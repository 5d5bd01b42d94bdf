"""Who you are decides what you see: the three ways MedLab runs, chosen by configuration.

    personal   no login, one user (the default; `make run` on a laptop); the sidebar's workspace field as before
    workshop   [workshop] join_code in .streamlit/secrets.toml: a participant enters a display name and the join
               code once and gets a personal workspace (a session token in a cookie); the admin code gives the
               teacher's view; a shared read-only "class" workspace holds the teacher's datasets
    sso        [auth] in .streamlit/secrets.toml: Streamlit's st.login (OIDC); the workspace follows the signed-in
               identity; [access] admins (an allow-list of e-mails) or admin_claim/admin_claim_value decide admins

This package never imports streamlit: pages read st.secrets / st.user / cookies and hand plain values in.
"""
