typedef int herald_placeholder_tz; /* replaced by its implementation */
