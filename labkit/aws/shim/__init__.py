"""Files deployed with every function (read as text by labkit.aws.resources, never imported here)."""
