"""The storage service: file metadata in SQL, blobs in an S3-API object store, owner-only access."""
