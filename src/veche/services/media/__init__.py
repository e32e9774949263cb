"""The media repository: uploads, downloads, thumbnails, URL previews and retention."""
