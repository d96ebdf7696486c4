typedef int herald_placeholder_host; /* replaced by its implementation */
