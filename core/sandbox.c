typedef int herald_placeholder_sandbox; /* replaced by its implementation */
