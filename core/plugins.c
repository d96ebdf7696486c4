typedef int herald_placeholder_plugins; /* replaced by its implementation */
