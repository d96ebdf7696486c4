typedef int herald_placeholder_template; /* replaced by its implementation */
