"""What the function's role may do to objects, per prefix parameter of template.yaml: the template test checks
the role grants exactly this, and the policy test checks every S3 call the service makes stays inside it."""

ALLOWED_OBJECT_GRANTS = {
    "IncomingPrefix": {"s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion"},
    "OutputPrefix": {"s3:PutObject", "s3:GetObject"},
    "FailedPrefix": {"s3:PutObject", "s3:GetObject"},
    "ArchivePrefix": {"s3:PutObject", "s3:GetObject"},  # only when ArchivePrefix is set
}

# The dead-letter consumer's role (Trigger=S3, template DeadLetterFunction): it only moves uploads to the failed
# prefix (HEAD and copy source under incoming, then a conditional delete; HEAD and copy target under failed).
DEAD_LETTER_OBJECT_GRANTS = {
    "IncomingPrefix": {"s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject"},
    "FailedPrefix": {"s3:PutObject", "s3:GetObject"},
}
